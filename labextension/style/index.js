import './base.css';
import './lifecycle.css';
